//! The methods of a scripted cluster store (`task_manager_core::Cluster`) that a test does not
//! script: each answers as a store with nothing to say would (reserved, sealed, not found, no
//! recorded cleanup) and keeps nothing.

/// Writes, inside an `impl Cluster for ..` block, the quiet version of each method named:
/// `reserve`, `release`, `submitted`, `step_began`, `seal`, `ended`, `request_cancel`
/// (`NotFound`), `ended_cleanup` (none).
#[macro_export]
macro_rules! quiet_cluster_methods {
    ($($method:ident),* $(,)?) => { $( $crate::quiet_cluster_methods!(@ $method); )* };
    (@ reserve) => {
        fn reserve(
            &self,
            _id: ::task_manager_core::TaskId,
        ) -> ::task_manager_core::ClusterFuture<Result<(), ::task_manager_core::ClusterError>> {
            Box::pin(async { Ok(()) })
        }
    };
    (@ release) => {
        fn release(&self, _id: ::task_manager_core::TaskId) {}
    };
    (@ submitted) => {
        fn submitted(&self, _id: ::task_manager_core::TaskId, _flow: &'static str, _queued: bool) {}
    };
    (@ step_began) => {
        fn step_began(&self, _id: ::task_manager_core::TaskId, _index: usize, _step: &'static str) {}
    };
    (@ seal) => {
        fn seal(
            &self,
            _id: ::task_manager_core::TaskId,
        ) -> ::task_manager_core::ClusterFuture<
            Result<::task_manager_core::ClusterSeal, ::task_manager_core::ClusterError>,
        > {
            Box::pin(async { Ok(::task_manager_core::ClusterSeal::Sealed) })
        }
    };
    (@ ended) => {
        fn ended(&self, _id: ::task_manager_core::TaskId, _ending: ::task_manager_core::ClusterEnding) {}
    };
    (@ request_cancel) => {
        fn request_cancel(
            &self,
            _id: ::task_manager_core::TaskId,
            _reason: ::task_manager_core::CancelReason,
            _source: ::task_manager_core::CancelSource,
        ) -> ::task_manager_core::ClusterFuture<
            Result<::task_manager_core::CancelStatus, ::task_manager_core::ClusterError>,
        > {
            Box::pin(async { Ok(::task_manager_core::CancelStatus::NotFound) })
        }
    };
    (@ ended_cleanup) => {
        fn ended_cleanup(
            &self,
            _id: ::task_manager_core::TaskId,
        ) -> ::task_manager_core::ClusterFuture<
            Result<Option<::task_manager_core::RecordedCleanup>, ::task_manager_core::ClusterError>,
        > {
            Box::pin(async { Ok(None) })
        }
    };
}
