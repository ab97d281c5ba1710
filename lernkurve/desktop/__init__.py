"""The desktop shell: the server in a thread, the dashboard in a native window, a clean exit.

``desktop.py`` calls :func:`lernkurve.desktop.app.main`; the one-file executable starts with
:mod:`lernkurve.desktop.launcher`, which unpacks the app once and hands over to it.
"""
