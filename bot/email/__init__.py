"""The email channel: the weekly digest and the pages and links that manage its subscribers. Nothing outside this
package decides how a mail is built, sent or scheduled (the dry run's `.eml` files are written by
`bot.publishers.file_sink.EmlWriter`, beside the other channels' dry-run files).

    schedule   when the weekly digest is due (`run_digest`), and `preview`: what a reader would get
    selection  which articles a reader gets (`articles_for`): the one pick the send and every preview use
    delivery   one mail per subscriber with a ledger row each (`EmailDigest`), and what a failed send means
    message    building the digest and confirmation mails: MIME, list headers, inlined CSS, DKIM
    smtp       sending them through one SMTP connection within a send rate (`SmtpSender`)
    web        the sign-up, confirm, unsubscribe and preferences pages
    tokens     the signed links those pages accept
    signups    how a sign-up is recorded and limited, for the web form and the /email chat command
    parts      the mail parts built once: sender identity, DKIM key, link signer, one SMTP sender
    jobs       the digest job App runs: live over those parts, or a dry run writing `.eml` files

Nothing is imported here, so `import bot.email.tokens` does not load Starlette or the SMTP client.
"""
