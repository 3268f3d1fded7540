// Enhances the to-do forms; every operation works without this script.
// - A description made only of spaces is refused before it is sent (the API refuses it too).
// - The hint under the add box counts the characters left, or how many too many (the box has
//   no maxlength, which would cut the text silently: the server refuses it in words).
(function () {
  "use strict";

  function checkBlank(input) {
    var blank = input.value.length > 0 && input.value.trim().length === 0;
    input.setCustomValidity(blank ? "Type a description, not only spaces." : "");
  }

  function enhance(form) {
    var input = form.querySelector("input[name=description]");
    if (!input) {
      return;
    }
    var max = parseInt(form.getAttribute("data-max-length"), 10);
    var hint = form.querySelector(".field-hint");
    function update() {
      checkBlank(input);
      if (hint && max > 0) {
        // Code points, as the server counts (a "character" outside the BMP is two in JS).
        var left = max - Array.from(input.value).length;
        if (left >= 0) {
          hint.textContent = left + (left === 1 ? " character left." : " characters left.");
        } else {
          hint.textContent = -left + (left === -1 ? " character too many." : " characters too many.");
        }
      }
    }
    input.addEventListener("input", update);
    form.addEventListener("submit", function (event) {
      checkBlank(input);
      if (!form.checkValidity()) {
        event.preventDefault();
        form.reportValidity();
      }
    });
    if (input.value) {
      update();
    }
  }

  document.querySelectorAll("form.todo-add, form.todo-edit").forEach(enhance);
})();
