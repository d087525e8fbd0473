"""FastAPI query service: auth -> tenant -> query -> backend -> ranked, highlighted hits."""
