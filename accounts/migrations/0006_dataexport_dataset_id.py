from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_invite"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataexport",
            name="dataset_id",
            field=models.BigIntegerField(blank=True, db_index=True, null=True),
        ),
    ]
