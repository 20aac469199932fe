"""WSGI entry point (gunicorn): starts the embedded services the environment relies on, then Django."""

import os

from django.core.wsgi import get_wsgi_application

from governance import embedded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
embedded.start_services()
application = get_wsgi_application()
