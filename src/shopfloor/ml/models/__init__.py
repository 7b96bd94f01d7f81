"""Built-in model types; importing this package registers each of them."""
