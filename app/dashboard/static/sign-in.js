// Checks the token against /api/v1/me, keeps it for this tab, and goes where the user was.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("sign-in");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = form.elements.token.value.trim();
    if (!value) return;
    CT.status("Checking the token…");
    try {
      const user = await CT.api("/me", {}, value);
      CT.signIn(value, user);
      const next = new URLSearchParams(location.search).get("next") || "";
      // Only a dashboard page of this site: never an open redirect.
      const safe = /^\/dashboard\/[^/\\]*(\?.*)?$/.test(next) && !next.startsWith("/dashboard/sign-in");
      location.assign(safe ? next : "/dashboard/");
    } catch (error) {
      CT.status(
        error.status === 401 ? "This token is not valid, or it has been revoked." : error.message,
        "error",
      );
    }
  });
});
