"""Knowledge base: a folder tree of documents to JSONL, Parquet, a Neo4j graph and semantic search.

`jobs.build` is the job function (kind ``knowledgebase.build``); `store` reads
built knowledge bases back; `index.search` answers semantic queries.
"""
