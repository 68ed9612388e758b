"""The web control room for admins under /admin."""
