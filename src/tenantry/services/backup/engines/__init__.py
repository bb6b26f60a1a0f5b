"""The backup tools tenantry drives, one module each, behind `engine.BackupEngine`."""
