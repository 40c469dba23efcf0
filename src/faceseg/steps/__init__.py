"""The pipeline's steps: one module per stage, each rule's script calls one function.

Every step reads its inputs, validates them with errors that name the file,
and writes its outputs atomically. An image that cannot be used (unreadable,
bad labels or landmarks, no face) is recorded as skipped, with the reason,
and the other images go on.
"""
