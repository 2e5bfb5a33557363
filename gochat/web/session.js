// Who is signed in, as far as this page knows. The cookie is the real credential; this object
// only mirrors GET /auth/me so the views can tell own posts and own messages apart.

export const session = {
  user: null, // {id, username, email, created_at}
  // Set by app.js: forget the user, stop live views, show the login form with `message`.
  end: (_message) => {},
};
