//! S3 task status messages: one log line each, and the JSON `StatusMessage` appended to the
//! export's status stream when the configured level lets it through.

use sm_model::s3::{
    level_passes, EventType, S3ExportTaskDefinition, Status, StatusContext, StatusMessage,
};
use sm_model::StatusLevel;
use tracing::{info, warn};

use crate::api::Action;
use crate::send::Cx;

/// Logs a task's status and queues its status message.
pub(crate) fn report(
    cx: &mut Cx<'_>,
    status_stream: Option<&(String, StatusLevel)>,
    seq: u64,
    task: Option<&S3ExportTaskDefinition>,
    status: Status,
    message: String,
) {
    match status {
        Status::Failure | Status::Canceled | Status::Warning => {
            warn!(
                stream = cx.stream,
                export = cx.export,
                seq,
                "S3 task: {message}"
            )
        }
        Status::InProgress | Status::Success => {
            info!(
                stream = cx.stream,
                export = cx.export,
                seq,
                "S3 task: {message}"
            )
        }
    }
    let Some((stream, configured)) = status_stream else {
        return;
    };
    let level = status.level();
    if !level_passes(level, *configured) {
        return;
    }
    let m = StatusMessage {
        event_type: EventType::S3Task,
        status_level: level,
        status,
        status_context: StatusContext {
            s3_export_task_definition: task.cloned(),
            export_identifier: Some(cx.export.to_owned()),
            stream_name: Some(cx.stream.to_owned()),
            sequence_number: Some(seq as i64),
        },
        message,
        timestamp_epoch_ms: cx.now,
    };
    match serde_json::to_vec(&m) {
        Ok(payload) => cx.out.push_back(Action::AppendStatus {
            stream: stream.clone(),
            payload,
        }),
        Err(e) => warn!(
            stream = cx.stream,
            export = cx.export,
            "cannot encode a status message: {e}"
        ),
    }
}
