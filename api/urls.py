from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api.accounts import views as accounts
from api.albums import views as albums
from api.notifications import views as notifications
from api.photos import views as photos
from api.photos.bulk_views import PhotoBulkView
from api.social import views as social
from api.tagging import views as tagging
from api.tags import views as tags
from api.tags.models import Vote
from api.training import views as training

router = DefaultRouter(trailing_slash=True)
router.register("photos", photos.PhotoViewSet, basename="photo")
router.register("albums", albums.AlbumViewSet, basename="album")

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/register/", accounts.RegisterView.as_view(), name="register"),
    path("auth/token/", accounts.TokenView.as_view(), name="token"),
    path("auth/password/", accounts.PasswordChangeView.as_view(), name="password-change"),
    path("auth/password-reset/", accounts.PasswordResetView.as_view(), name="password-reset"),
    path("account/", accounts.AccountView.as_view(), name="account"),
    path("account/export/", accounts.AccountExportView.as_view(), name="account-export"),
    path("photos/<int:pk>/tags/", tags.PhotoTagsView.as_view(), name="photo-tags"),
    path("photos/<int:pk>/tags/<str:name>/", tags.PhotoTagDetailView.as_view(), name="photo-tag"),
    path(
        "photos/<int:pk>/tags/<str:name>/confirm/",
        tags.PhotoTagVoteView.as_view(vote=Vote.CONFIRM),
        name="photo-tag-confirm",
    ),
    path(
        "photos/<int:pk>/tags/<str:name>/reject/",
        tags.PhotoTagVoteView.as_view(vote=Vote.REJECT),
        name="photo-tag-reject",
    ),
    path("photos/<int:pk>/favourite/", social.FavouriteView.as_view(), name="photo-favourite"),
    path("photos/<int:pk>/comments/", social.PhotoCommentsView.as_view(), name="photo-comments"),
    path("comments/<int:pk>/", social.CommentDetailView.as_view(), name="comment-detail"),
    path("favourites/", social.MyFavouritesView.as_view(), name="my-favourites"),
    path("profile/", social.MyProfileView.as_view(), name="my-profile"),
    path("users/<str:username>/", social.PersonView.as_view(), name="person"),
    path("users/<str:username>/follow/", social.FollowView.as_view(), name="person-follow"),
    path("feed/following/", social.FollowingFeedView.as_view(), name="following-feed"),
    path("notifications/", notifications.NotificationList.as_view(), name="notification-list"),
    path("notifications/read/", notifications.MarkRead.as_view(), name="notification-read"),
    path("tags/", tags.TagSearchView.as_view(), name="tag-search"),
    path("system/", tagging.SystemView.as_view(), name="system"),
    path("models/", training.ModelVersionList.as_view(), name="model-list"),
    path("models/<int:version>/activate/", training.ActivateModelVersion.as_view(), name="model-activate"),
    path("training-runs/", training.TrainingRunList.as_view(), name="training-run-list"),
    path("training-runs/<int:pk>/", training.TrainingRunDetail.as_view(), name="training-run-detail"),
    path("training/vocabulary/", training.Vocabulary.as_view(), name="training-vocabulary"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    *router.urls,
    path("photos/bulk/", PhotoBulkView.as_view(), name="photo-bulk"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("files/photos/<int:pk>/<str:kind>", photos.photo_file, name="photo-file"),
    path("", include("web.urls")),
]
