"""``cryopick app``: label, review and retrain in the browser.

A local web server over one preprocessed directory: the labels made in the page are saved as
RELION manual-pick STAR files after every change (:mod:`~cryopick.app.project`), "Train" runs the
same training and extraction as ``cryopick train`` and ``cryopick extract`` in a background
thread (:mod:`~cryopick.app.training`), and :mod:`~cryopick.app.server` holds the routes.
This package sits above ``workflows``: it joins files, compute and HTTP, and nothing below
imports it.
"""
