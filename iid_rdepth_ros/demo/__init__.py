"""`iid-rdepth demo`: the whole pipeline on generated data, offline and through the node."""
