"""The posts service we replace, as its README describes it: FastAPI serves
GET /posts from an external posts API (POSTS_API_URL), the whole list cached
in Redis for CACHE_TTL seconds (60), with page, per_page (1-100) and a
case-insensitive search on title and body.

Run by bench/src/bin/posts_feed.rs beside our local server, against the same
upstream, under the same oha load:
    POSTS_API_URL=... REDIS_URL=redis://127.0.0.1:PORT/0 \
        uvicorn posts_peer:app --workers 2 --no-access-log
"""

import json
import math
import os

import httpx
import redis.asyncio as redis
from fastapi import FastAPI, Query

API = os.environ["POSTS_API_URL"]
TTL = int(os.environ.get("CACHE_TTL", "60"))
KEY = "posts:all"

app = FastAPI()
cache = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
client = httpx.AsyncClient(timeout=2.0)


async def all_posts() -> list:
    cached = await cache.get(KEY)
    if cached is not None:
        return json.loads(cached)
    response = await client.get(API)
    response.raise_for_status()
    posts = response.json()
    await cache.set(KEY, json.dumps(posts), ex=TTL)
    return posts


@app.get("/posts")
async def list_posts(
    page: int = Query(1, ge=1),
    per_page: int = Query(10, ge=1, le=100),
    search: str | None = Query(None, max_length=200),
):
    posts = await all_posts()
    if search:
        needle = search.casefold()
        posts = [p for p in posts if needle in p["title"].casefold() or needle in p["body"].casefold()]
    total = len(posts)
    start = (page - 1) * per_page
    return {
        "items": posts[start : start + per_page],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": math.ceil(total / per_page),
    }
