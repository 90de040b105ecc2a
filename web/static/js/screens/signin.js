// Sign-in with extension and password, and the forced password change after it.
import { api } from "../api.js";
import { clearErrors, field, formError, h, replace, showErrors } from "../dom.js";

export function render(main, { onSignedIn }) {
  const extension = h("input", {
    name: "login", autocomplete: "username", required: true,
  });
  const password = h("input", {
    name: "password", type: "password", autocomplete: "current-password", required: true,
  });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "signin-title", novalidate: true },
    h("h1", { id: "signin-title" }, "Sign in to Voco"),
    field("Extension or login", extension, { field: "login" }),
    field("Password", password, { field: "password" }),
    formError(),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    performance.clearMarks();
    performance.mark("voco-sign-in-submitted");
    try {
      const session = await api.signIn(extension.value.trim(), password.value);
      await onSignedIn(session);
    } catch (error) {
      showErrors(form, error.problems || [{ field: null, message: String(error) }]);
    }
  });
  replace(main, form);
  extension.focus();
}

export function renderChangePassword(main, { onChanged }) {
  const current = h("input", { type: "password", autocomplete: "current-password" });
  const next = h("input", { type: "password", autocomplete: "new-password" });
  const again = h("input", { type: "password", autocomplete: "new-password" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "pw-title", novalidate: true },
    h("h1", { id: "pw-title" }, "Choose a new password"),
    h("p", {}, "Your administrator set a password for you; choose your own to continue."),
    field("Current password", current, { field: "current_password" }),
    field("New password", next, { field: "new_password" }),
    field("New password again", again, { field: "new_password_again" }),
    formError(),
    h("button", { type: "submit", class: "primary" }, "Change password"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (next.value !== again.value) {
      showErrors(form, [{ field: "new_password_again", message: "The two new passwords differ." }]);
      return;
    }
    try {
      await api.changePassword(current.value, next.value);
      await onChanged(await api.session());
    } catch (error) {
      showErrors(form, error.problems || [{ field: null, message: String(error) }]);
    }
  });
  replace(main, form);
  current.focus();
}
