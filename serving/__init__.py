"""The scoring API (`xinfang serve`): FastAPI app, auth, micro-batching and the results store."""
