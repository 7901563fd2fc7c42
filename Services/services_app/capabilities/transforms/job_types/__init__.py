"""One module per job type; each defines one `JobType` subclass decorated with `register`."""
