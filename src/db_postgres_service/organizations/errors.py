"""The problem this feature adds to the contract's list."""

from db_postgres_service.core.errors import ServiceError


class OwnerRequired(ServiceError):
    """The change would leave an organization with members but no owner."""

    status = 409
    kind = "owner-required"
    title = "Owner required"

    def __init__(self, organization_id: int) -> None:
        super().__init__(
            f"Organization {organization_id} would have members but no owner; "
            "make another member its owner first.",
            extensions={"organization_id": organization_id},
        )


def owner_required(detail: str | None) -> OwnerRequired | None:
    """The problem of the database rule `owner_required`, whose detail is the organization's id."""
    if detail is None or not detail.isdigit():
        return None
    return OwnerRequired(int(detail))
