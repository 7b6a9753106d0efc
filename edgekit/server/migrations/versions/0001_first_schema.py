"""The first schema: the tables exactly as edgekit made them with ``create_all`` before Alembic
(homes made then are stamped at this revision and upgraded).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('key_id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_table('devices',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_expires', sa.DateTime(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('enrolled', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=True),
    sa.Column('installed', sa.String(length=300), nullable=True),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('last_result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_devices_profile'), 'devices', ['profile'], unique=False)
    op.create_table('enrollment_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('uses_left', sa.Integer(), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_table('idempotent_answers',
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('actor', 'key')
    )
    op.create_index(op.f('ix_idempotent_answers_created'), 'idempotent_answers', ['created'], unique=False)
    op.create_table('locks',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('taken', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('releases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=40), nullable=False),
    sa.Column('profiles', sa.JSON(), nullable=False),
    sa.Column('target_path', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('artifact', sa.JSON(), nullable=False),
    sa.Column('parity', sa.JSON(), nullable=False),
    sa.Column('bench', sa.JSON(), nullable=False),
    sa.Column('pins', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('target_path')
    )
    op.create_index('ix_release_model_version', 'releases', ['model', 'version'], unique=True)
    op.create_index(op.f('ix_releases_model'), 'releases', ['model'], unique=False)
    op.create_table('tuf_metadata',
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('role', 'version')
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('opened', sa.DateTime(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.Column('resolved', sa.DateTime(), nullable=True),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('cohort', sa.String(length=64), nullable=False),
    sa.Column('feature', sa.String(length=100), nullable=False),
    sa.Column('statistic', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('webhook', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_alerts_model'), 'alerts', ['model'], unique=False)
    op.create_index(op.f('ix_alerts_state'), 'alerts', ['state'], unique=False)
    op.create_table('device_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_device_events_device_id'), 'device_events', ['device_id'], unique=False)
    op.create_index(op.f('ix_device_events_target'), 'device_events', ['target'], unique=False)
    op.create_table('drift_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('cohort', sa.String(length=64), nullable=False),
    sa.Column('feature', sa.String(length=100), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('psi', sa.Float(), nullable=False),
    sa.Column('ks', sa.Float(), nullable=False),
    sa.Column('violation_rate', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_drift_point_group', 'drift_points', ['release_id', 'profile', 'cohort', 'feature', 'id'], unique=False)
    op.create_index(op.f('ix_drift_points_at'), 'drift_points', ['at'], unique=False)
    op.create_index(op.f('ix_drift_points_release_id'), 'drift_points', ['release_id'], unique=False)
    op.create_table('release_baselines',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('baseline', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], ),
    sa.PrimaryKeyConstraint('release_id')
    )
    op.create_table('rollouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('stages', sa.JSON(), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('profiles', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_rollouts_release_id'), 'rollouts', ['release_id'], unique=False)
    op.create_table('telemetry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('received', sa.DateTime(), nullable=False),
    sa.Column('release', sa.String(length=300), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_telemetry_device_id'), 'telemetry', ['device_id'], unique=False)
    op.create_index(op.f('ix_telemetry_received'), 'telemetry', ['received'], unique=False)
    op.create_index(op.f('ix_telemetry_release'), 'telemetry', ['release'], unique=False)
    op.create_table('rollout_gates',
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('stage_started', sa.DateTime(), nullable=False),
    sa.Column('last', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollouts.id'], ),
    sa.PrimaryKeyConstraint('rollout_id')
    )


def downgrade() -> None:
    op.drop_table('rollout_gates')
    op.drop_table('telemetry')
    op.drop_table('rollouts')
    op.drop_table('release_baselines')
    op.drop_table('drift_points')
    op.drop_table('device_events')
    op.drop_table('alerts')
    op.drop_table('tuf_metadata')
    op.drop_table('releases')
    op.drop_table('locks')
    op.drop_table('idempotent_answers')
    op.drop_table('enrollment_tokens')
    op.drop_table('devices')
    op.drop_table('audit_log')
    op.drop_table('api_keys')
