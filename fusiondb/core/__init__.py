"""The pure core: errors, ids, index keys and their order, documents, schema and expressions.

Nothing here does I/O or knows which database engine stores the data; every layer above
imports from here, and nothing here imports from them.
"""
