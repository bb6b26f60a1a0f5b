from notes_service.models import Base
from tenantry.platform.storage.migrations import run_revisions

run_revisions(Base.metadata)
