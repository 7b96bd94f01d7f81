"""A simulated packaging line: carton images with defects, line state and a reject gate."""
