use crate::error::{ApiError, ErrorResponse};
use crate::models::HealthResponse;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;

/// Checks that the database answers.
#[utoipa::path(get, path = "/healthz", tag = "health-check",
    responses((status = 200, body = HealthResponse), (status = 503, body = ErrorResponse)))]
pub(crate) async fn healthz(
    State(state): State<AppState>,
) -> Result<Json<HealthResponse>, ApiError> {
    check(&state).await
}

/// Checks that the database answers (the same check under the API's prefix).
#[utoipa::path(get, path = "/v1/healthz", tag = "health-check",
    responses((status = 200, body = HealthResponse), (status = 503, body = ErrorResponse)))]
pub(crate) async fn healthz_v1(
    State(state): State<AppState>,
) -> Result<Json<HealthResponse>, ApiError> {
    check(&state).await
}

async fn check(state: &AppState) -> Result<Json<HealthResponse>, ApiError> {
    // On its own connection and within a fixed budget: whatever fails here (no connection, the
    // database gone or stuck) means the database does not answer.
    match state.db.check_health().await {
        Ok(()) => Ok(Json(HealthResponse { success: true })),
        Err(why) => Err(ApiError::Unavailable(why)),
    }
}
