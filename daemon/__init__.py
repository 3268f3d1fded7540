"""The daemon: a command-line client that calls the ToDoList API as itself.

It acquires an app token with the OAuth 2.0 client-credentials grant (MSAL, with a client
secret or a certificate), calls the API with it and prints the API's JSON. Every failure is one
line on stderr naming the cause, with exit status 1; usage errors exit 2.
"""
