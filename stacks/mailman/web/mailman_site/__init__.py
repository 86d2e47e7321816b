"""The Mailman stack's own web code: a Django app installed ahead of Postorius and HyperKitty (see the settings,
k8s/config/mailman-web.py). Save a file here while `devstack up` runs: it is copied into the web pod and uwsgi's
workers reload, with no image build and no new pod."""
