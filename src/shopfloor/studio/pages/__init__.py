"""The Studio's pages, one module each; every view calls the services."""
