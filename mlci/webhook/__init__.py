"""The webhook filter: the only door from the public side (frps → frpc) into the stack.

frps routes by path *prefix* and forwards the request target verbatim, and Jenkins normalizes dot
segments and percent-encoding behind it, so a prefix route exposes all of Jenkins
(`/generic-webhook-trigger/invoke/../../script`). This filter sits between frpc and Jenkins and lets
through one thing only: `POST /generic-webhook-trigger/invoke`, byte for byte, with the webhook token in
the `token` header, a JSON body of bounded size. It never forwards the client's request target: it sends
its own constant one, so no encoding, dot segment or path parameter can change what Jenkins sees.
The body must be strict JSON; one whose top-level object has the key `deploy` is the deploy route
(`deploy`), checked field by field and rewritten, which starts `mlci-deploy`.

Standard library only (it runs as `python -m mlci.webhook` in the controller image): `rule` decides,
`deploy` judges the body, `server` speaks HTTP and forwards.
"""
