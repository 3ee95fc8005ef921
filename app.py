"""fabu's Chalice app: wiring only. Routes live in Blueprints, logic in ``chalicelib``."""
from chalice import Chalice

from chalicelib import api_hosts, api_projects
from chalicelib.localauth import make_sigv4_middleware

app = Chalice(app_name="fabu")
app.register_middleware(make_sigv4_middleware(app), "http")
app.register_blueprint(api_projects.bp)
app.register_blueprint(api_hosts.bp)
