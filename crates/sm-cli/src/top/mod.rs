//! `smctl top`: a live full-screen view of the streams and exports (ratatui on crossterm).
//!
//! Every interval: list and describe the streams, turn the sample into a [`model::View`]
//! (rates from the previous sample), draw it; between refreshes, wait for a key (`q`, Esc
//! or Ctrl-C quit; any other key refreshes at once). A daemon that cannot be reached is shown
//! in the title line and asked again at the next refresh. The terminal is restored on every
//! way out.

pub mod model;
mod view;

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use sm_client::{Client, Error, MessageStreamInfo};

use crate::{error_line, CliError};

/// The one clock `top` reads (for rates and the refresh period).
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Lists and describes every stream (a stream deleted in between is left out).
async fn sample(client: &Client) -> Result<Vec<MessageStreamInfo>, Error> {
    let mut infos = Vec::new();
    for n in client.list_streams().await? {
        match client.describe_message_stream(&n).await {
            Ok(i) => infos.push(i),
            Err(Error::ResourceNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(infos)
}

/// What a key asks for.
enum Key {
    Quit,
    Refresh,
    Nothing,
}

/// Waits up to `wait` for a terminal event (in the blocking pool: crossterm reads block).
async fn next_key(wait: Duration) -> Result<Key, CliError> {
    let ev = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Event>> {
        if event::poll(wait)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    })
    .await
    .map_err(|e| CliError(format!("reading the terminal: {e}")))??;
    Ok(match ev {
        Some(Event::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
            KeyCode::Char('q') | KeyCode::Esc => Key::Quit,
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
            _ => Key::Refresh,
        },
        Some(Event::Resize(..)) => Key::Refresh,
        _ => Key::Nothing,
    })
}

/// Runs the view until the user quits.
pub async fn run(client: &Client, interval: Duration, target: &str) -> Result<(), CliError> {
    let mut terminal =
        ratatui::try_init().map_err(|e| CliError(format!("opening the terminal: {e}")))?;
    let result = run_on(&mut terminal, client, interval, target).await;
    ratatui::restore();
    result
}

async fn run_on(
    terminal: &mut ratatui::DefaultTerminal,
    client: &Client,
    interval: Duration,
    target: &str,
) -> Result<(), CliError> {
    let start = now();
    let mut model = model::Model::default();
    let mut shown = model::View::default();
    loop {
        let taken = now();
        let status = match sample(client).await {
            Ok(infos) => {
                shown = model.update(start.elapsed().as_secs_f64(), &infos);
                format!(
                    "{target}: {} stream{}",
                    shown.streams.len(),
                    if shown.streams.len() == 1 { "" } else { "s" }
                )
            }
            Err(e) => format!("{target}: {}", error_line(&e)),
        };
        let title = format!(
            "smctl top  {status}  (every {:.1} s; q quits)",
            interval.as_secs_f64()
        );
        terminal
            .draw(|f| view::draw(f, &title, &shown))
            .map_err(|e| CliError(format!("drawing: {e}")))?;
        // Keys until the next refresh is due.
        loop {
            let left = interval.saturating_sub(taken.elapsed());
            if left.is_zero() {
                break;
            }
            match next_key(left).await? {
                Key::Quit => return Ok(()),
                Key::Refresh => break,
                Key::Nothing => {}
            }
        }
    }
}
