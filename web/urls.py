from django.contrib.auth import views as auth_views
from django.urls import path

from web import galleries, help, staff, views

app_name = "web"

urlpatterns = [
    path("", galleries.feed, name="feed"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("upload/", views.upload, name="upload"),
    path("search/", galleries.search, name="search"),
    path("u/<str:username>/", galleries.profile, name="profile"),
    path("t/<str:name>/", galleries.tag_page, name="tag"),
    path("p/<int:pk>/", views.photo_page, name="photo"),
    path("p/<int:pk>/tags-fragment/", views.photo_tags, name="photo-tags"),
    path("p/<int:pk>/card/", galleries.photo_card, name="photo-card"),
    path("p/<int:pk>/similar/", views.photo_similar, name="photo-similar"),
    path("p/<int:pk>/edit/", views.edit_photo, name="photo-edit"),
    path("p/<int:pk>/delete/", views.delete_photo, name="photo-delete"),
    path("p/<int:pk>/tags/", views.add_tag, name="tag-add"),
    path("p/<int:pk>/tags/<str:name>/<str:action>/", views.tag_vote, name="tag-action"),
    path("s/<str:token>/", views.shared_photo, name="shared-photo"),
    path("help/", help.help_page, name="help"),
    path("help/<int:pk>/<str:action>/", help.help_answer, name="help-answer"),
    path("tag-suggestions/", views.tag_suggestions, name="tag-suggestions"),
    path("staff/", staff.dashboard, name="staff"),
    path("staff/retrain/", staff.retrain, name="staff-retrain"),
    path("staff/runs/<int:pk>/", staff.run_panel, name="staff-run"),
    path("staff/models/<int:version>/activate/", staff.activate, name="staff-activate"),
    path("staff/quality/", staff.quality, name="staff-quality"),
    path("staff/operations/", staff.operations, name="staff-operations"),
    path("staff/failed/retry/", staff.retry_failed, name="staff-retry-failed"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="web/password_change.html", success_url="/accounts/password/done/"
        ),
        name="password-change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="web/password_change_done.html"),
        name="password-change-done",
    ),
]
