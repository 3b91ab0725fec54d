"""The data contract: every file a study holds, read and validated, and the processed study."""
