from django.core.management.base import BaseCommand

from services_app.jobs.services import jobs_sweep


class Command(BaseCommand):
    help = "Requeue or fail running jobs whose worker was lost (workers also do this on their own)."

    def handle(self, *args, **opts):
        self.stdout.write(str(jobs_sweep()))
