"""Scheduling: the scheduler file compiled into crontab, systemd timers and Kubernetes CronJobs."""
