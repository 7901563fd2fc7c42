"""Language models trained from datasets: word co-occurrence (PPMI) and n-gram models
(add-k or interpolated Kneser-Ney) with perplexity; artifacts saved to storage."""
