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
    // Whatever fails here (no connection, database gone) means the database does not answer.
    match state.db.query_one("SELECT 1", &[]).await {
        Ok(_) => Ok(Json(HealthResponse { success: true })),
        Err(err) => Err(ApiError::Unavailable(format!("{err:?}"))),
    }
}
