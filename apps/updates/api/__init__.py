"""HTTP endpoints of the update API: PUC, EDD Software Licensing, native v1, downloads."""
