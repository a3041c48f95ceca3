"""PyJWT's side of the token-validation comparison: verifies the same EdDSA
token with the same public key, N times, and prints the median in µs.

Usage: python bench/pyjwt_verify.py TOKEN_FILE JWK_FILE AUDIENCE ISSUER N
"""
import json
import statistics
import sys
import time

import jwt

token = open(sys.argv[1]).read().strip()
key = jwt.PyJWK(json.load(open(sys.argv[2]))).key
audience, issuer, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
samples = []
for _ in range(n):
    start = time.perf_counter_ns()
    jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
               options={"require": ["exp", "nbf", "iss", "aud", "sub"]}, leeway=30)
    samples.append(time.perf_counter_ns() - start)
print(statistics.median(samples) / 1000.0)
