"""The control room: web pages for the bot's admins under `/admin`, served by bot.server beside the other pages.

It is on when `[web] public_url` is set and `[telegram] admins` is not empty (`newsbot run` and `newsbot web`).
Admins sign in with one-time links (bot.control.auth: `/login` in chat, `newsbot admin-link --admin ID`); the
links and sessions are signed and kept as the module says. The app (bot.control.app) is `build_control_app`.

## Adding a page (the contract)

A page is one module `bot/control/<page>.py` and one template `templates/admin/<page>.html.j2`:

    # bot/control/sources.py
    def view(ctx: ControlContext) -> Response:
        return ctx.render("sources", title="Sources", sources=...)

    def pause(ctx: ControlContext) -> Response:          # POST /admin/sources/pause
        name = ctx.field("name")
        ...                                               # the same function the chat command calls
        return ctx.redirect("/sources", notice=f"{name} is paused.")

    PAGE = Page(path="/sources", title="Sources", view=view, actions={"pause": pause})

and one line in bot/control/registry.py (`PAGES`, in nav order: Overview, Approval, Sources, Routes, Subscribers,
Deliveries, Stats). `Page.views` adds GET sub-paths (`{"export.csv": export}` → /admin/subscribers/export.csv).

Handlers are plain (sync) functions, run in the thread pool, one `ControlContext` per request (bot.control.page):
`config`, `store` (opened for the request, closed after it; SQLite or PostgreSQL), `now` and `clock`, `admin_id`,
`csrf_token`, `form` (a POST's fields), `render(template, title=…, **values)`, `redirect(path, notice=…)` (303;
the notice is shown once on the next page, in the role=status area), `url(path)`, `field(name)` and
`open_store` (for a streamed response, which outlives `store`: bot.control.exports.csv_download), and
`posts`, the renderer of posts built once per app as App builds its own (bot.clicks.renderer_of: with
[analytics] on, the /r/ click links), so a page's preview of a post is the post chat previews and sends.

A handler never checks sign-in or CSRF itself: the app does, in one place, before calling it. A GET without a
session redirects to /admin/signin; a POST is refused (403, nothing called) without a session, from another site
(`Sec-Fetch-Site`/`Origin`), or without the session's CSRF token. So every POST form carries

    <input type="hidden" name="{{ csrf_field }}" value="{{ csrf_token }}">

A template extends "admin/base.html.j2" and fills `{% block content %}`. Every page gets `base` (the control
room's path, for links: `{{ base }}/sources`), `title`, `nav`, `csrf_field`, `csrf_token`, `admin_id`, `notice`
and `signed_in`; an email address shown in a narrow cell goes through the `breakable` filter (bot.control.cells:
it wraps only after the @ and before a dot). No JavaScript and no inline styles (the CSP allows neither): add classes to
templates/admin/style.css. Wide tables go inside `<div class="table-box" role="region" aria-labelledby=… tabindex="0">`
so they scroll in their own box on a phone.

Tests: tests/control_helpers.py (`AdminSite`, HTTP via the real server) and tests/browser/conftest.py
(`admin_site` fixture; `admin_site.sign_in(page)` signs a browser page in through the real link flow).
"""
