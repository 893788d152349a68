"""`llm-compare serve`: local models behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

settings.py  what the command line chose (address, key, limits) and the models served
types.py     the requests as OpenAI defines them, validated; the responses and stream chunks
errors.py    OpenAI's error shape, one status per kind of failure
gate.py      one generation at a time per model, a bounded queue, and the engine run on a thread
app.py       the FastAPI application: Host, size and key checks, then the routes
routes.py    /healthz, /v1/models, /v1/chat/completions, /v1/completions"""
