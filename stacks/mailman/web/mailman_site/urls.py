"""The site's URLs: its own pages under /site/, then everything Debian's mailman3-web serves (its module `urls`:
Postorius, HyperKitty, accounts, admin)."""

from django.urls import include, path

from mailman_site import views

urlpatterns = [
    path("site/about.json", views.about, name="site-about"),
    path("", include("urls")),
]
