"""The registry: one strategy per served resource (`<group>/<resource>.py`, found by
strategies.py) and the one write path over the store (generic.py), as kube-apiserver's
`pkg/registry` and its generic registry store. The HTTP verbs, the controllers, the node's
status writes and start-up seeding all write through it; `client.py` gives in-process writers
the store's methods with a field manager of their own."""
