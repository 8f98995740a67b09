"""The service layer: every business rule (validation, role checks, status transitions), no HTTP.

Each public function takes the `Store` first (and an `Actor` where a user acts), runs in one
`store.transaction()`, and returns DTOs from `prelabel.service.dto`.
"""
