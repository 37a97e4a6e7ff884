"""Social sign-in and password resets.

An account made by social sign-in has an email only when the provider verified
one, so the email index becomes sparse: accounts without one don't collide.
Identities are found by `_id` ("provider:id") and listed by account; attempts
and reset links by `_id` (a digest), and housekeeping drops expired ones.
"""

import pymongo


async def up(db):
    indexes = await db.users.index_information()
    if not indexes.get("email_1", {}).get("sparse"):
        if "email_1" in indexes:
            await db.users.drop_index("email_1")
        await db.users.create_index("email", unique=True, sparse=True)
    await db.identities.create_index([("user_id", pymongo.ASCENDING), ("provider", pymongo.ASCENDING)])
    await db.sign_in_attempts.create_index("expires_at")
    await db.password_resets.create_index("user_id")
    await db.password_resets.create_index("expires_at")
