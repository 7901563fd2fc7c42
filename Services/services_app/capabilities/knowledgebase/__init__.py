"""Knowledge base: a folder tree of documents to JSONL, Parquet, a Neo4j graph and semantic search.

Public face: `KnowledgeBaseRequest` (the one request model), `knowledgebase_submit`
(router and command door), `jobs.build` (the job function of kind
``knowledgebase.build``), `store` (built knowledge bases read back) and
`index.search` (semantic queries). Other packages import only these names.
"""
