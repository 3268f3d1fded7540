"""Every message the web app shows a person when something goes wrong, in one place.

Titles carry no final full stop (pages add one where a title runs into a sentence). Texts never
name settings, URLs or codes: those go to the log, which the site's administrator reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    title: str
    text: str

    def format(self, *values: object) -> Message:
        """This message with `values` put into its text's `{}`s."""
        return Message(self.title, self.text.format(*values))


# The tenant (sign-in service).
PROVIDER_UNREACHABLE = Message(
    "The sign-in service is unavailable",
    "It could not be reached. Please try again in a moment.",
)
PROVIDER_TIMEOUT = Message(
    "The sign-in service is unavailable",
    "It did not answer in time. Please try again in a moment.",
)
PROVIDER_BAD_ANSWER = Message(
    "The sign-in service is unavailable",
    "It gave an answer this site cannot use. Please try again later.",
)
PROVIDER_REFUSED = Message(
    "The sign-in service refused the request",
    "It would not give this site access for you right now. Please try again later; if it "
    "keeps happening, tell the site's administrator.",
)
APP_MISCONFIGURED = Message(
    "This app is not set up correctly",
    "The sign-in service does not accept this site's configuration, so it cannot act for you. "
    "This is not something you can fix: the site's administrator will find the cause in the "
    "log.",
)
SIGN_INS_FULL = Message(
    "Too many sign-ins in progress",
    "More people than this site can handle are signing in right now. Please try again in a "
    "few minutes.",
)
TOO_MANY_SIGN_INS = Message(
    "Too many sign-in attempts",
    "This address started more sign-ins than this site allows ({}). Please try again in {} "
    "seconds.",
)
SIGN_IN_BUSY = Message(
    "The sign-in service is unavailable",
    "Another request is still renewing your sign-in. Please try again in a moment.",
)

# Signing in (the `kind` of a `SignInFailed`).
SIGN_IN_FAILED = {
    "cancelled": Message(
        "Sign-in was cancelled",
        "You did not finish signing in, so nothing changed. You can start again whenever "
        "you like.",
    ),
    "provider": Message(
        "The sign-in service reported a problem",
        "The sign-in service could not sign you in ({detail}). Please try again.",
    ),
    "state": Message(
        "This sign-in response is not valid here",
        "It does not belong to a sign-in started in this browser (it may have been used "
        "already). Please start again.",
    ),
    "expired": Message(
        "Your sign-in attempt expired",
        "Signing in took too long or was already completed. Please start again.",
    ),
    "id_token": Message(
        "Sign-in failed",
        "The sign-in service's answer could not be verified, so you have not been signed in. "
        "Please try again; if it keeps happening, tell the site's administrator.",
    ),
}
SIGN_IN_NEEDED = Message("Sign-in required", "Sign in to use the to-do list.")
STEP_UP_NEEDED = Message(
    "A second factor is needed",
    "The to-do service asks for a sign-in with a second factor (such as a code sent to your "
    "email) for this change. Send the user to signin_url, then try again.",
)
SIGN_IN_RENEW = Message(
    "Sign-in required", "Your sign-in has to be renewed before the to-do list can be used."
)

# Permissions.
PERMISSION_TITLE = "Your account lacks permission"
CONSENT_MISSING = Message(
    PERMISSION_TITLE,
    "This app has not been granted access to the to-do list for this operation. Ask the "
    "administrator of this site to grant it.",
)


def no_permission(writing: bool, after_sign_in: bool = False) -> Message:
    """The permission page's text: consent missing, or the API said 403."""
    action = "change" if writing else "read"
    again = ", even after you signed in again" if after_sign_in else ""
    return Message(
        PERMISSION_TITLE,
        f"Your account does not have permission to {action} the to-do list: this app has not "
        f"been granted that access{again}. Ask the administrator of this site to grant it.",
    )


# The ToDoList API (the pages show the title, then the text: the text does not repeat it).
API_UNREACHABLE = Message(
    "The to-do service is unavailable",
    "It cannot be reached right now. Please try again in a moment.",
)
API_TIMEOUT = Message(
    "The to-do service is unavailable", "It did not answer in time. Please try again."
)
API_TLS = Message(
    "The to-do service is unavailable",
    "It could not be reached securely. Please try again later; if it keeps happening, tell "
    "the site's administrator.",
)
API_FAILED = Message(
    "The to-do service is unavailable", "It ran into a problem. Please try again later."
)
API_GARBLED = Message(
    "The to-do service is unavailable",
    "It gave an answer this site cannot read. Please try again later.",
)
API_REFUSED_INPUT = Message(
    "The to-do service refused the input", "The to-do service refused the input."
)
ITEM_GONE = "That item no longer exists."
# The form's field error ("{}": the limit, then the length of the text typed).
DESCRIPTION_TOO_LONG = "Type a description of up to {} characters; this one has {}."

# To-do flashes ("{}": the item's text).
ADDED = "Added “{}”."
SAVED = "Saved “{}”."
DELETED = "Deleted “{}”."
DELETED_UNNAMED = "Item deleted."  # a delete form that did not say which (an older page)
SIGNED_IN_AGAIN_DELETE = "You signed in again. Press Delete once more to remove the item."
STEP_UP_NOT_DONE = Message(
    "A second factor is still needed",
    "The to-do service asks for a sign-in with a second factor (such as a code sent to your "
    "email) for this change, and the sign-in service did not confirm one, even after you "
    "signed in again. Nothing was changed. You can try once more; if it keeps "
    "happening, tell the site's administrator.",
)
SIGNED_IN_AGAIN_TEXT = "You signed in again; your text is back in the box, ready to save."

# The home page after signing out.
SIGNED_OUT = "You are signed out."

# The JSON proxy's refusals of a request ("{}": the header's name; the size limit).
CSRF_HEADER_MISSING = Message(
    "CSRF token missing or invalid", "Send the page's CSRF token in the {} header ({})."
)
TOO_LARGE = Message("Request too large", "The body may be {} bytes at most.")

# The site itself.
STORE_UNAVAILABLE = Message(
    "The session store is unavailable",
    "This site cannot reach the store that keeps sign-ins, so it cannot serve you right now. "
    "Nothing was changed. Please try again in a minute.",
)
STORE_UNAVAILABLE_SAVED = Message(
    "Saved, but the session store is unavailable",
    "{} was saved, but this site could not keep your session, so it cannot show it right now. "
    "Do not send it again: reload the to-do list in a minute and it will be there.",
)
NOT_FOUND = Message(
    "Page not found", "There is no page at this address. Check the link or start again."
)
NOT_ALLOWED = Message("Not allowed", "This page cannot be used that way.")
HOST_NOT_SERVED = Message(
    "This site is not served at this address",
    "The address your browser asked for is not one this site answers to. Check the link, or "
    "use the site's usual address.",
)
FORM_EXPIRED = Message(
    "This form has expired",
    "The form was not accepted because it came without this site's security token, or the "
    "token has expired. Go back, reload the page and try again.",
)
UNEXPECTED = Message(
    "Something went wrong",
    "An unexpected error stopped this page. It has been logged; please try again.",
)

# The profile page (Microsoft Graph).
PROFILE_UNREACHABLE = Message(
    "The profile service is unavailable",
    "It cannot be reached right now. Please try again in a moment.",
)
PROFILE_TIMEOUT = Message(
    "The profile service is unavailable", "It did not answer in time. Please try again."
)
PROFILE_FAILED = Message(
    "The profile service is unavailable",
    "It ran into a problem or gave an answer this site cannot read. Please try again later.",
)
PROFILE_REFUSED_INPUT = Message(
    "The profile service refused the change",
    "It did not accept these values. Check them and try again.",
)
PROFILE_NO_PERMISSION = Message(
    PERMISSION_TITLE,
    "This app has not been granted access to change your profile{}. Ask the administrator of "
    "this site to grant it.",
)
PROFILE_SIGN_IN_AGAIN = Message(
    "Sign-in required",
    "Your sign-in has to be renewed before your profile can be changed{}.",
)
PROFILE_STEP_UP_NOT_DONE = Message(
    "A second factor is still needed",
    "Changing your profile needs a sign-in with a second factor (such as a code sent to your "
    "email), and the sign-in service did not confirm one, even after you signed in again. "
    "Nothing was saved.",
)
PROFILE_SAVED = "Your profile is saved."
PROFILE_SIGNED_IN_AGAIN = "You signed in again; your changes are saved."
PROFILE_SIGNED_IN_AGAIN_REVOKE = (
    "You signed in again. Press “Sign out everywhere” once more to sign out on every device."
)
