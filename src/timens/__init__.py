"""timens: time namespaces for Linux process trees."""
