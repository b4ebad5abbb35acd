"""The auth service: users in MySQL, argon2id password hashes, RS256 JWTs verifiable through JWKS."""
