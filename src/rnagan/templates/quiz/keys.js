// Keyboard answers: any element with data-key="r" is clicked (or checked) when that key is pressed,
// except while typing in a text field. Enter in a form submits it as usual.
document.addEventListener("keydown", function (event) {
  var target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text") ||
      target.tagName === "SELECT")) return;
  var element = document.querySelector('[data-key="' + event.key.toLowerCase() + '"]');
  if (!element) return;
  event.preventDefault();
  element.focus();
  element.click();
});
